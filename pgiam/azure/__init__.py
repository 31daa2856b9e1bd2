"""Microsoft Entra ID tokens for Azure Database for PostgreSQL (azure-identity lives here only, lazily)."""
