-- Ferry's edge-case corpus: the changes made while the job syncs (see schema.sql).
-- `FLUSH BINARY LOGS` rotates the binlog twice in the middle.
SET SESSION time_zone = '-07:00';
SET SESSION sql_mode = '';

-- Every type changed, to its other limit and to NULL.
UPDATE ints SET t = 127, tu = 255, m = -8388608, mu = 16777215, bu = 18446744073709551615 WHERE id = 1;
UPDATE ints SET t = NULL, b = -9223372036854775808 WHERE id = 2;
INSERT INTO ints VALUES (6, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, 7, 1);
DELETE FROM ints WHERE id = 5;
UPDATE nums SET d1 = -d1, f = -f, fd = fd / 2 WHERE id IN (1, 2);
INSERT INTO nums VALUES (5, 0.000000000000000000000000000001, 1, 0.00001, -0.000000001, 1e-30, 5e-324, 0.001);
UPDATE temporal SET t1 = '-00:00:00.9', t2 = '-00:00:00.99', ts0 = '2001-02-03 04:05:06', ts6 = '2001-02-03 04:05:06.654321' WHERE id = 1;
INSERT INTO temporal VALUES (6, '2024-02-30', '2023-04-31 00:00:00', '0000-00-00 00:00:00.000', NULL, '1999-12-31 23:59:59', NULL, '-00:00:01', '-00:00:00.1', '-00:00:00.01', '-00:00:00.001', '-00:00:00.000001', 0);
UPDATE strs SET c = 'x ', vc = CONCAT(vc, ' '), bn = x'62000000', vb = x'0000', e = 'b', st = '', j = '{"k": "v"}', gbk = '汉字', sj = 'ｱｲｳ' WHERE id = 1;
UPDATE strs SET e = 'zzz', mt = REPEAT('m', 70000) WHERE id = 2;
INSERT INTO strs (id, bn, e, j) VALUES (5, x'0000000000000000', 'a', '"scalar"'), (6, x'01', '', 'null');
DELETE FROM strs WHERE id = 3;
UPDATE bits SET b1 = b'1', b13 = b'1010101010101', b64 = 1 WHERE id = 1;
INSERT INTO bits VALUES (5, b'1', b'00000001', b'0000000000001', 0x0100000000000000);
UPDATE geo SET p = ST_GeomFromText('POINT(3 4)') WHERE id = 2;
INSERT INTO geo VALUES (3, ST_GeomFromText('MULTIPOINT(1 1, 2 2)'), ST_GeomFromText('POINT(0 0)'), NULL, NULL);
UPDATE gen SET a = 10 WHERE id = 1;
INSERT INTO gen (id, a, b, h) VALUES (4, 4, 4, 4);
UPDATE wide SET c1 = 'first', c150 = NULL, c299 = 'last' WHERE id = 1;
INSERT INTO wide (id, c2, c298) VALUES (2, 'two', 'wide');

FLUSH BINARY LOGS;

-- Keyless rows: one of two duplicates changed, NULLs, padded binary, bits.
UPDATE nokey SET b = 'one' WHERE a = 1 LIMIT 1;
DELETE FROM nokey WHERE a = 2;
INSERT INTO nokey VALUES (3, 'new', x'0100', b'1010');
UPDATE nokey SET c = x'02' WHERE a IS NULL;

-- Mixed engines in one transaction, and a rollback that keeps the MyISAM row.
BEGIN; INSERT INTO myi VALUES (3, 'm3'); UPDATE ari SET v = 'a1x' WHERE id = 1; UPDATE big SET v = -1 WHERE id = 1; COMMIT;
BEGIN; UPDATE big SET v = -2 WHERE id = 2; INSERT INTO myi VALUES (4, 'kept'); ROLLBACK;

-- Rows moving between partitions.
UPDATE part SET k = 50 WHERE id = 3;
UPDATE part SET k = 700, v = 'moved' WHERE id = 1;
INSERT INTO part VALUES (4, 99999, 'max');
UPDATE hpart SET id = id + 100 WHERE id <= 5;

-- Foreign-key actions.
DELETE FROM parent WHERE id = 1;
UPDATE parent SET code = 2000 WHERE id = 2;
DELETE FROM parent WHERE code = 30;
REPLACE INTO parent VALUES (4, 40);
BEGIN; DELETE FROM parent WHERE id = 5; INSERT INTO parent VALUES (5, 50); INSERT INTO child VALUES (50, 5, 50); COMMIT;

-- Key updates and swaps.
UPDATE uk SET id = id + 10 WHERE id = 3;
UPDATE uk SET code = 'tmp' WHERE id = 1;
UPDATE uk SET code = 'one' WHERE id = 2;
UPDATE uk SET code = 'two' WHERE id = 1;
UPDATE ints SET id = 50 WHERE id = 4;

-- Collation-equal keys: the same row under another spelling.
INSERT INTO ci VALUES ('x', 1);
UPDATE ci SET k = 'ABC' WHERE k = 'abc';
DELETE FROM ci WHERE k = 'X';
INSERT INTO ci VALUES ('x', 2);
UPDATE ci SET v = 3 WHERE k = 'STRASSE' OR k = 'Straße';

-- Source-side upserts.
INSERT INTO uk VALUES (20, 'two', 0) ON DUPLICATE KEY UPDATE n = n + 100;
REPLACE INTO uk VALUES (21, 'one', 21);
INSERT IGNORE INTO uk VALUES (22, 'one', 22), (23, 'twentythree', 23);

-- Multi-table statements.
UPDATE uk JOIN big ON big.id = uk.n SET uk.n = uk.n + 1, big.v = big.v + 1000;
DELETE big, myi FROM big JOIN myi ON big.id = myi.id WHERE myi.id = 2;

-- Triggers and routines.
UPDATE ints SET i = 5 WHERE id IN (1, 2);
CALL bump(7);

-- Savepoints and XA.
BEGIN; INSERT INTO big (id, v) VALUES (5001, 1); SAVEPOINT a; INSERT INTO big (id, v) VALUES (5002, 2); ROLLBACK TO SAVEPOINT a; INSERT INTO big (id, v) VALUES (5003, 3); COMMIT;
XA START 'corpus1'; INSERT INTO big (id, v) VALUES (5004, 4); XA END 'corpus1'; XA PREPARE 'corpus1'; XA COMMIT 'corpus1';
XA START 'corpus2'; DELETE FROM big WHERE id = 10; XA END 'corpus2'; XA PREPARE 'corpus2'; XA ROLLBACK 'corpus2';

FLUSH BINARY LOGS;

-- One transaction with tens of thousands of changes.
BEGIN;
INSERT INTO big (id, v) SELECT 10000 + seq, seq FROM seq_1_to_20000;
UPDATE big SET v = v + 1 WHERE id BETWEEN 10001 AND 20000;
DELETE FROM big WHERE id BETWEEN 25001 AND 30000;
COMMIT;

-- MariaDB DDL and renames.
ALTER TABLE big ADD COLUMN IF NOT EXISTS note VARCHAR(10) DEFAULT 'n';
ALTER TABLE big ADD COLUMN IF NOT EXISTS note VARCHAR(10) DEFAULT 'n';
ALTER TABLE big COMMENT 'changed during the sync', ALGORITHM = INPLACE;
ALTER TABLE uk ADD COLUMN hidden INT INVISIBLE DEFAULT 9;
OPTIMIZE TABLE ints;
ANALYZE TABLE strs;
UPDATE big SET note = 'after' WHERE id = 3;
RENAME TABLE ren_a TO ren_tmp, ren_b TO ren_a, ren_tmp TO ren_b;
INSERT INTO ren_a VALUES (2, 200);
INSERT INTO ren_b VALUES (2, 'b');
CREATE TABLE made_late (id INT PRIMARY KEY, t TIME(2), b BINARY(4)) ENGINE = InnoDB;
INSERT INTO made_late VALUES (1, '-00:00:00.01', x'6100');
ALTER TABLE made_late RENAME TO made_later;
INSERT INTO made_later VALUES (2, '-10:00:00.5', x'00');
