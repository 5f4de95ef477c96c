"""Chapter 5 and appendix C: NetSpace, an encoder-decoder that embeds trained networks (as PReps) into a
fixed-size latent space and decodes embeddings into ready-to-use networks."""
