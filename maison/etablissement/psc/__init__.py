"""Pro Santé Connect as a structure's software signs a professional in (authorisation code with PKCE)."""
