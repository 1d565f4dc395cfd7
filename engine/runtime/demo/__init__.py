"""Demo data: `crm demo` fills a database with a realistic company to try the product on.

`run.generate` makes users and records for any configuration; `company.py`
knows the default company (a Hungarian building-materials wholesaler) and makes
its data realistic; `generic.py` fills what no domain knows; `load.py` writes
through the importer's checks in batches; `cli.py` is the command.
"""
