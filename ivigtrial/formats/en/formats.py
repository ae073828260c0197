"""One date format on every screen: ISO 8601 dates and 24-hour times.

Django's locale formats win over the settings of the same name, so the
study's formats are given as the formats of its languages (FORMAT_MODULE_PATH);
``en_GB`` imports these. The zone is named once per page, in base.html's footer.
"""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "Y-m"
MONTH_DAY_FORMAT = "m-d"
FIRST_DAY_OF_WEEK = 1  # Monday (ISO 8601)

# What the forms accept: ISO 8601 only (the inputs show "YYYY-MM-DD").
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
# The first format of each list is the one a form shows its value in.
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M",
                          "%Y-%m-%d"]
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S"]
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
