"""Training: tune ripmap's ranking parameters against cases mined from git history."""
