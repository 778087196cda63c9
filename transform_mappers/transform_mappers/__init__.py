"""Salesforce → NetSuite stream-map mapper (Singer SDK inline mapper)."""
