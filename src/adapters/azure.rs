//! Azure Key Vault (being written).
