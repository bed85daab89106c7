"""What the chapters need to teach: chapter set-up, tables, figures and widgets. Imports the layers
below."""
