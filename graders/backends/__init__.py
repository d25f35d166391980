"""Model backends; import the one you need (the Hugging Face one pulls in torch and transformers)."""
