-- Rank movement of one snapshot day against each user's previous snapshot of the same range.
-- Inputs: `history` (user_id, time_range, snapshot_date, rank, item_id, item_name): every
-- snapshot up to the day; `params` (snapshot_date).
-- Output: one row per item in today's list (new / up / down / same) and per item of the
-- previous list that is not in today's (dropped); days_at_1 counts the consecutive snapshots,
-- ending today, where today's #1 was #1.
with today as (
    select * from history where snapshot_date = (select snapshot_date from params)
),
lists as (
    select
        t.user_id,
        t.time_range,
        max(h.snapshot_date) as previous_snapshot_date
    from (select distinct user_id, time_range from today) as t
    left join history as h
        on h.user_id = t.user_id
       and h.time_range = t.time_range
       and h.snapshot_date < (select snapshot_date from params)
    group by all
),
previous as (
    select h.*
    from history as h
    join lists as l
        on h.user_id = l.user_id
       and h.time_range = l.time_range
       and h.snapshot_date = l.previous_snapshot_date
),
compared as (
    select
        coalesce(t.user_id, p.user_id) as user_id,
        coalesce(t.time_range, p.time_range) as time_range,
        coalesce(t.item_id, p.item_id) as item_id,
        coalesce(t.item_name, p.item_name) as item_name,
        t.rank,
        p.rank as previous_rank
    from today as t
    full join previous as p
        on t.user_id = p.user_id
       and t.time_range = p.time_range
       and t.item_id = p.item_id
),
firsts as (
    select user_id, time_range, snapshot_date, item_id
    from history
    where rank = 1 and snapshot_date <= (select snapshot_date from params)
),
leaders as (
    select user_id, time_range, item_id from today where rank = 1
),
-- The latest snapshot where someone else was #1: the streak starts after it.
broken as (
    select l.user_id, l.time_range, max(f.snapshot_date) as broken_on
    from leaders as l
    join firsts as f
        on f.user_id = l.user_id
       and f.time_range = l.time_range
       and f.item_id <> l.item_id
    group by all
),
streaks as (
    select l.user_id, l.time_range, l.item_id, count(*) as days_at_1
    from leaders as l
    join firsts as f
        on f.user_id = l.user_id
       and f.time_range = l.time_range
       and f.item_id = l.item_id
    left join broken as b
        on b.user_id = l.user_id
       and b.time_range = l.time_range
    where f.snapshot_date > coalesce(b.broken_on, date '0001-01-01')
    group by all
)
select
    c.user_id,
    (select snapshot_date from params) as snapshot_date,
    c.time_range,
    c.item_id,
    c.item_name,
    c.rank,
    l.previous_snapshot_date,
    c.previous_rank,
    case
        when c.rank is null then 'dropped'
        when c.previous_rank is null then 'new'
        when c.previous_rank > c.rank then 'up'
        when c.previous_rank < c.rank then 'down'
        else 'same'
    end as movement,
    c.previous_rank - c.rank as rank_change,
    coalesce(s.days_at_1, 0) as days_at_1
from compared as c
join lists as l
    on l.user_id = c.user_id
   and l.time_range = c.time_range
left join streaks as s
    on s.user_id = c.user_id
   and s.time_range = c.time_range
   and s.item_id = c.item_id
   and c.rank = 1
order by c.user_id, c.time_range, c.rank nulls last, c.previous_rank, c.item_id
