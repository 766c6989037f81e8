"""Upstream channels: storage (repository), operator actions (service), and the in-memory
routing table the hot path reads (directory)."""

from app.relay.channels.directory import ChannelDirectory, Route
from app.relay.channels.schemas import CHANNEL_TYPES, ChannelIn, ChannelPatch, ChannelView

__all__ = ["CHANNEL_TYPES", "ChannelDirectory", "ChannelIn", "ChannelPatch", "ChannelView", "Route"]
