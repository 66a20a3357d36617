"""The experience library (AlphaOPT-style insights from failures). Built in a later issue."""
