"""What the three connectors share; nothing here knows Salesforce or NetSuite (each connector brings its rules)."""
