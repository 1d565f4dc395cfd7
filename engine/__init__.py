"""A CRM engine whose whole behaviour for one company comes from a folder of YAML files."""
