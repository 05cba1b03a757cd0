"""HTTP endpoints: each builds one Exchange, runs its pipeline chain, and serialises the Reply."""
