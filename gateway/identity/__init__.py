"""Who is calling: API keys issued by the gateway and JWTs from the organisation's identity provider."""
