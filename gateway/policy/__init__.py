"""What a caller may do: casbin over the policy files in ``policies/``, hot-reloaded and versioned."""
