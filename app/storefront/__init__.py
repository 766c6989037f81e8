"""The storefront (signup, dashboard, top-ups) arrives with later issues."""
