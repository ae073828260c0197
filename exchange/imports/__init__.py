"""Imports: files from other systems (or our own exports) loaded through the
same services and model rules as the forms. One module per format."""
