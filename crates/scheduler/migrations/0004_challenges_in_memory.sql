-- Login challenges are kept in memory (single-use, expiring, bounded per client): a
-- challenge lives for one round trip, and storing it cost two commits per login.
DROP TABLE IF EXISTS challenges;
