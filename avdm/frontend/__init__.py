"""The lip front-end: a visual encoder pretrained to predict the speech's spectral envelope from the lips."""
