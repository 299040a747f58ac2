"""The HTTP layer shared by the four APIs: routing, auth, microversions and fault bodies."""
