"""Pro Santé Connect: the OpenID Connect provider of health professionals."""
