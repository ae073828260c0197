"""French formats (issue 16): dates as dd/mm/yyyy, decimal commas, 24-hour times.

What is shown and what the forms accept. ISO 8601 dates are accepted too (a date
pasted from an export or a lab report); they cannot be mistaken for dd/mm/yyyy.
Exports, the API and the audit trail never use these: they stay ISO with dot
decimals whatever the language.
"""

DATE_FORMAT = "d/m/Y"
SHORT_DATE_FORMAT = "d/m/Y"
DATETIME_FORMAT = "d/m/Y H:i"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "m/Y"
MONTH_DAY_FORMAT = "d/m"
FIRST_DAY_OF_WEEK = 1  # lundi

# The first format is the one a form shows its value in.
DATE_INPUT_FORMATS = ["%d/%m/%Y", "%Y-%m-%d"]
DATETIME_INPUT_FORMATS = ["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                          "%Y-%m-%dT%H:%M", "%d/%m/%Y", "%Y-%m-%d"]
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S"]
DECIMAL_SEPARATOR = ","
# Never shown (USE_THOUSAND_SEPARATOR is off): a clinical value reads "1234,5".
THOUSAND_SEPARATOR = "\u202f"
NUMBER_GROUPING = 3
