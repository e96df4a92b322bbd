/**
 * How to add a foreign key back on a table that may be partitioned (plan's and
 * cutover's refusals of a key between two moved tables say it): PostgreSQL 18
 * takes NOT VALID there; before 18 it refuses NOT VALID on a partitioned table
 * ("not yet supported"), so the key is checked as it is added.
 */
export const fkReAddAdvice = 'PostgreSQL 18: NOT VALID, then VALIDATE, which lets writes go on; before 18, a partitioned table takes it only validated, checking every row while writes to both tables wait: pick a quiet minute';
