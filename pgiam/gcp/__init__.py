"""Google OAuth access tokens for Cloud SQL and AlloyDB (google-auth lives here only, lazily)."""
