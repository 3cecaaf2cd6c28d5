//! The type-torture schema shared by the copy and sync tests.

/// Every MySQL/MariaDB type at its limits, plus keyless, composite-key, generated
/// and invisible columns, views, triggers, routines and an event.
pub const TORTURE: &str = r#"
CREATE TABLE ints (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,
  mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
  y YEAR, b1 BIT(1), b64 BIT(64), b7 BIT(7)
);
INSERT INTO ints VALUES
 (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, 1901, b'1', b'1111111111111111111111111111111111111111111111111111111111111111', b'1010101'),
 (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, 2155, b'0', b'0', b'0'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE nums (
  id BIGINT UNSIGNED PRIMARY KEY,
  d DECIMAL(65,30), d2 DECIMAL(10,2) UNSIGNED, f FLOAT, db DOUBLE, fz FLOAT(7,3)
);
INSERT INTO nums VALUES
 (18446744073709551615, 99999999999999999999999999999999999.999999999999999999999999999999, 12345678.99, 3.40282e38, 1.7976931348623157e308, 1234.567),
 (0, -99999999999999999999999999999999999.999999999999999999999999999999, 0.01, -1.17549e-38, 2.2250738585072014e-308, -0.001),
 (7, 0.000000000000000000000000000001, NULL, 0.1, 0.1, NULL),
 (8, NULL, NULL, NULL, -0.0, 0);
CREATE TABLE strs (
  id VARCHAR(20) PRIMARY KEY,
  c CHAR(10), vc VARCHAR(200), bin BINARY(8), vb VARBINARY(64), bl BLOB, tx TEXT, lt LONGTEXT,
  e ENUM('a','b','c d'), st SET('x','y','z'), j JSON
) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
INSERT INTO strs VALUES
 ('emoji', 'ab  ', 'héllo 🦀 世界', x'00010200ff000000', x'00ff00fe', x'000000ffffff00', 'line1\nline2\ttab', REPEAT('long🦀', 5000), 'c d', 'x,z', '{"a": [1, 2.5, "🦀", null], "b": {"c": true}}'),
 ('nuls', '', '', x'0000000000000000', x'', x'', '', '', 'a', '', '[]'),
 ('trailing ', 'x', 'trailing spaces   ', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('Case', 'q', 'collation peer of case', NULL, NULL, NULL, NULL, NULL, 'b', 'y', 'null');
CREATE TABLE latin (id INT PRIMARY KEY, s VARCHAR(50)) CHARACTER SET latin1;
INSERT INTO latin VALUES (1, 'café'), (2, 'naïve Ünïcödé'), (3, CONCAT('raw ', CHAR(0xE9 USING latin1)));
CREATE TABLE gbk_t (id INT PRIMARY KEY, s VARCHAR(50)) CHARACTER SET gbk;
INSERT INTO gbk_t VALUES (1, '中文字符'), (2, '迁移');
CREATE TABLE times (
  id INT PRIMARY KEY,
  d DATE, dt DATETIME(6), ts TIMESTAMP(6) NULL, t TIME(6), t0 TIME, y YEAR
);
SET SESSION time_zone = '+05:30';
INSERT INTO times VALUES
 (1, '1000-01-01', '1000-01-01 00:00:00.000000', '1970-01-01 05:30:01.000001', '-838:59:59.000000', '838:59:59', 2000),
 (2, '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 08:44:07.999999', '00:00:00.000001', '-00:00:01', 1999),
 (3, NULL, NULL, NULL, NULL, NULL, NULL);
SET SESSION sql_mode = '';
INSERT INTO times VALUES (4, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '00:00:00', '00:00:00', 0000);
INSERT INTO times VALUES (5, '2024-02-00', '2024-00-15 10:00:00', NULL, NULL, NULL, NULL);
SET SESSION sql_mode = DEFAULT;
SET SESSION time_zone = DEFAULT;
CREATE TABLE geo (id INT PRIMARY KEY, g GEOMETRY, p POINT NOT NULL);
INSERT INTO geo VALUES (1, ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))'), POINT(1.5, -2.25)), (2, NULL, POINT(0, 0));
CREATE TABLE gen (
  id INT PRIMARY KEY, a INT, b INT,
  s INT AS (a + b) STORED, v VARCHAR(30) AS (CONCAT(a, '-', b)) VIRTUAL,
  hidden INT INVISIBLE DEFAULT 42
);
INSERT INTO gen (id, a, b, hidden) VALUES (1, 1, 2, 7), (2, NULL, 5, NULL), (3, 10, 20, 42);
CREATE TABLE nokey (msg VARCHAR(20), n INT);
INSERT INTO nokey VALUES ('dup', 1), ('dup', 1), (NULL, NULL), ('x', 2);
CREATE TABLE composite (a INT NOT NULL, b VARCHAR(10) NOT NULL, c INT, PRIMARY KEY (a, b));
INSERT INTO composite VALUES (1, 'a', 1), (1, 'b', 2), (2, 'a', 3), (2, 'B', 4), (3, '', 5);
CREATE TABLE child (id INT PRIMARY KEY, composite_a INT, CONSTRAINT fk_parent FOREIGN KEY (id) REFERENCES ints (id));
INSERT INTO child VALUES (1, 1), (2, 2);
CREATE VIEW v_ints AS SELECT id, bu FROM ints;
CREATE VIEW v_over AS SELECT id FROM v_ints WHERE id > 1;
CREATE TRIGGER trg_gen BEFORE INSERT ON gen FOR EACH ROW SET NEW.a = COALESCE(NEW.a, 0);
CREATE PROCEDURE p_count() SELECT COUNT(*) FROM ints;
CREATE FUNCTION f_twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
CREATE EVENT ev_noop ON SCHEDULE EVERY 1 DAY DO DELETE FROM nokey WHERE 1 = 0;
"#;

/// The tables TORTURE creates, in creation order.
pub const TORTURE_TABLES: &[&str] = &[
    "ints",
    "nums",
    "strs",
    "latin",
    "gbk_t",
    "times",
    "geo",
    "gen",
    "nokey",
    "composite",
    "child",
];
