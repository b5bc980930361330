"""The length study: accuracy of rule-following traces against input length."""
