"""The rows both sides of Nova share: the only code that writes Instance and BDM rows."""
