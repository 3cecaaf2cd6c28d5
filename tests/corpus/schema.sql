-- Ferry's edge-case corpus: the schema and its first rows, loaded before the job
-- starts (so the copy carries them). Cases gathered from the test suites and bug
-- trackers of binlog consumers: python-mysql-replication's test_data_type (every
-- type at its limits, NULLs, zero dates, negative and fractional times, YEAR 0,
-- BIT, ENUM/SET, JSON, spatial), go-mysql and mysql-binlog-connector-java (padded
-- BINARY, charsets, wide rows), Debezium (SAVEPOINT, XA, multi-table statements,
-- partitions), TiDB DM's integration data (key updates, upserts, DDL), MariaDB's
-- own (INVISIBLE columns, Aria, sequences of renames).
SET SESSION sql_mode = '';
SET SESSION time_zone = '+00:00';

CREATE TABLE ints (
  id INT PRIMARY KEY,
  t TINYINT, tu TINYINT UNSIGNED, s SMALLINT, su SMALLINT UNSIGNED,
  m MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
  b BIGINT, bu BIGINT UNSIGNED, z INT(6) ZEROFILL, bo BOOL
);
INSERT INTO ints VALUES
  (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, 0, FALSE),
  (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615, 999999, TRUE),
  (3, 0, 128, 0, 32768, 0, 8388608, 0, 2147483648, 0, 9223372036854775808, 1, 0),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (5, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, 42, 1);

CREATE TABLE nums (
  id INT PRIMARY KEY,
  d1 DECIMAL(65, 30), d2 DECIMAL(10, 0) UNSIGNED, d3 DECIMAL(5, 5), d4 DECIMAL(18, 9),
  f FLOAT, fd DOUBLE, f2 FLOAT(7, 3)
);
INSERT INTO nums VALUES
  (1, 99999999999999999999999999999999999.999999999999999999999999999999, 9999999999, 0.99999, -123456789.123456789, 3.40282e38, 1.7976931348623157e308, 1234.567),
  (2, -99999999999999999999999999999999999.999999999999999999999999999999, 0, -0.99999, 0.000000001, -1.17549e-38, -2.2250738585072014e-308, -1234.567),
  (3, 0, NULL, 0, NULL, 0, 0, NULL),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE temporal (
  id INT PRIMARY KEY,
  d DATE, dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6),
  ts0 TIMESTAMP NULL DEFAULT NULL, ts6 TIMESTAMP(6) NULL DEFAULT NULL,
  t0 TIME, t1 TIME(1), t2 TIME(2), t3 TIME(3), t6 TIME(6), y YEAR
);
INSERT INTO temporal VALUES
  (1, '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000', '1000-01-01 00:00:00.000000',
      '1970-01-01 00:00:01', '1970-01-01 00:00:01.000000', '-838:59:59', '-838:59:58.9', '-838:59:58.99', '-838:59:58.999', '-838:59:58.999999', 1901),
  (2, '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999',
      '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999', '838:59:59', '838:59:58.9', '838:59:58.99', '838:59:58.999', '838:59:58.999999', 2155),
  (3, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000', '0000-00-00 00:00:00.000000',
      '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', '00:00:00', '-00:00:00.1', '-00:00:00.01', '-00:00:00.001', '-00:00:00.000001', 0),
  (4, '2024-02-29', '2024-02-29 12:34:56', '2024-02-29 12:34:56.5', '2024-02-29 12:34:56.000001',
      '2024-02-29 12:34:56', '2024-02-29 12:34:56.123456', '-12:34:56', '-1:00:00.5', '-0:59:59.99', '12:34:56.789', '-0:0:0.5', 2000),
  (5, '2024-00-10', '2024-05-00 01:02:03', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE strs (
  id INT PRIMARY KEY,
  c CHAR(10), vc VARCHAR(300), bn BINARY(8), vb VARBINARY(10),
  tb TINYBLOB, bl BLOB, mt MEDIUMTEXT, lt LONGTEXT,
  e ENUM('a', 'b', 'c'), st SET('x', 'y', 'z'), j JSON,
  latin VARCHAR(20) CHARACTER SET latin1, u8 VARCHAR(20) CHARACTER SET utf8mb3,
  gbk VARCHAR(20) CHARACTER SET gbk, sj VARCHAR(20) CHARACTER SET sjis,
  cs VARCHAR(20) COLLATE utf8mb4_bin
) DEFAULT CHARSET = utf8mb4;
INSERT INTO strs VALUES
  (1, 'pad  ', 'trailing   ', x'6100000000000000', x'00', x'', x'00ff00', 'm', 'l', 'a', 'x,z', '{"a": [1, 2.5, null, true], "b": {"c": "\\u00e9"}}', 'café', 'naïve', '中文', 'ｶﾀｶﾅ', 'Case'),
  (2, '', '', x'', x'', '', '', '', '', '', '', '[]', '', '', '', '', ''),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 'emoji', '😀 👍🏽 𝔘𝔫𝔦𝔠𝔬𝔡𝔢', x'ffffffffffffff00', x'0000', REPEAT('t', 255), REPEAT(x'01', 65535), REPEAT('€', 100000), REPEAT('long ', 300000), 'c', 'x,y,z', '{"big": 18446744073709551615, "neg": -9223372036854775808, "f": 1.5e300}', 'ÿ', '', '测试', '日本', 'CASE');

CREATE TABLE bits (id INT PRIMARY KEY, b1 BIT(1), b8 BIT(8), b13 BIT(13), b64 BIT(64));
INSERT INTO bits VALUES (1, b'0', b'0', b'0', b'0'), (2, b'1', b'11111111', b'1111111111111', 0xFFFFFFFFFFFFFFFF), (3, NULL, NULL, NULL, NULL), (4, 1, b'10000000', b'1', 0x8000000000000000);

CREATE TABLE geo (id INT PRIMARY KEY, g GEOMETRY, p POINT, l LINESTRING, pg POLYGON);
INSERT INTO geo VALUES
  (1, ST_GeomFromText('POINT(1 1)'), ST_GeomFromText('POINT(-180 90)'), ST_GeomFromText('LINESTRING(0 0, 1 1, 2 2)'), ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))')),
  (2, ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))'), NULL, NULL, NULL);

CREATE TABLE gen (
  id INT PRIMARY KEY, a INT, b INT,
  v INT AS (a + b) VIRTUAL, s BIGINT AS (a * b) PERSISTENT,
  h INT INVISIBLE DEFAULT 42,
  KEY (s)
);
INSERT INTO gen (id, a, b, h) VALUES (1, 1, 2, 3), (2, NULL, 5, NULL);
INSERT INTO gen (id, a, b) VALUES (3, 7, 8);

-- A wide table: 300 columns.
SET @sql = (SELECT CONCAT('CREATE TABLE wide (id INT PRIMARY KEY, ', GROUP_CONCAT(CONCAT('c', seq, ' VARCHAR(8)') ORDER BY seq SEPARATOR ', '), ')') FROM seq_1_to_299);
PREPARE s FROM @sql; EXECUTE s; DEALLOCATE PREPARE s;
SET @sql = (SELECT CONCAT('INSERT INTO wide VALUES (1, ', GROUP_CONCAT(CONCAT('''v', seq, '''') ORDER BY seq SEPARATOR ', '), ')') FROM seq_1_to_299);
PREPARE s FROM @sql; EXECUTE s; DEALLOCATE PREPARE s;

-- Keyless, with duplicate rows and padded binary.
CREATE TABLE nokey (a INT, b VARCHAR(10), c BINARY(3), f BIT(4));
INSERT INTO nokey VALUES (1, 'dup', x'01', b'1'), (1, 'dup', x'01', b'1'), (2, NULL, x'', b'0'), (NULL, NULL, NULL, NULL);

-- Other engines.
CREATE TABLE myi (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE = MyISAM;
CREATE TABLE ari (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE = Aria;
INSERT INTO myi VALUES (1, 'm1'), (2, 'm2');
INSERT INTO ari VALUES (1, 'a1'), (2, 'a2');

-- Partitions.
CREATE TABLE part (id INT, k INT, v VARCHAR(10), PRIMARY KEY (id, k))
  PARTITION BY RANGE (k) (PARTITION p0 VALUES LESS THAN (100), PARTITION p1 VALUES LESS THAN (1000), PARTITION p2 VALUES LESS THAN MAXVALUE);
INSERT INTO part VALUES (1, 1, 'low'), (2, 500, 'mid'), (3, 5000, 'high');
CREATE TABLE hpart (id INT PRIMARY KEY, v INT) PARTITION BY HASH (id) PARTITIONS 4;
INSERT INTO hpart SELECT seq, seq FROM seq_1_to_40;

-- Foreign keys with actions.
CREATE TABLE parent (id INT PRIMARY KEY, code INT UNIQUE);
CREATE TABLE child (id INT PRIMARY KEY, pid INT, pcode INT,
  FOREIGN KEY (pid) REFERENCES parent (id) ON DELETE CASCADE,
  FOREIGN KEY (pcode) REFERENCES parent (code) ON UPDATE CASCADE ON DELETE SET NULL);
INSERT INTO parent SELECT seq, seq * 10 FROM seq_1_to_20;
INSERT INTO child SELECT seq, seq, seq * 10 FROM seq_1_to_20;

-- Unique keys other than the primary key, for swaps and upserts.
CREATE TABLE uk (id INT PRIMARY KEY, code VARCHAR(10) NOT NULL, n INT, UNIQUE KEY (code));
INSERT INTO uk VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3);

-- A string key under a case-insensitive collation.
CREATE TABLE ci (k VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT);
INSERT INTO ci VALUES ('abc', 1), ('Straße', 2);

-- Triggers and routines: the sync carries their effects as rows.
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(40), at_id INT);
CREATE TRIGGER ints_audit AFTER UPDATE ON ints FOR EACH ROW INSERT INTO audit (what, at_id) VALUES ('ints updated', NEW.id);
DELIMITER //
CREATE PROCEDURE bump(IN n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  WHILE i < n DO
    UPDATE uk SET n = n + 1 WHERE id = 1 + (i MOD 3);
    SET i = i + 1;
  END WHILE;
END //
DELIMITER ;
CREATE VIEW uk_view AS SELECT id, code FROM uk;

CREATE TABLE big (id INT PRIMARY KEY, v INT, pad CHAR(20) DEFAULT 'x');
INSERT INTO big (id, v) SELECT seq, seq FROM seq_1_to_1000;

CREATE TABLE ren_a (id INT PRIMARY KEY, a VARCHAR(10));
CREATE TABLE ren_b (id INT PRIMARY KEY, b INT);
INSERT INTO ren_a VALUES (1, 'a');
INSERT INTO ren_b VALUES (1, 100);
