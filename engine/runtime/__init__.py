"""Model + database -> behaviour: schema and migrations, records, permissions, audit, import/export."""
