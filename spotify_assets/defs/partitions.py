"""Time partitions shared by every domain (UTC). Users are rows, never partitions."""

import dagster as dg

# Spotify launched in October 2008: no export can hold an older play.
HISTORY_START = "2008-10-01"

# Daily and monthly include the current, unfinished period (end_offset=1): today's polls land in
# today's day and this month's partition. Assets that summarise a finished period (monthly
# wrapped) are scheduled for the previous one.
daily = dg.DailyPartitionsDefinition(start_date=HISTORY_START, end_offset=1)
# ISO weeks start on Monday.
weekly = dg.WeeklyPartitionsDefinition(start_date="2008-09-29", day_offset=1)
monthly = dg.MonthlyPartitionsDefinition(start_date=HISTORY_START, end_offset=1)
yearly = dg.TimeWindowPartitionsDefinition(cron_schedule="0 0 1 1 *", start="2009", fmt="%Y")
