//! GTID sets in MariaDB's (`domain-server-seq`) and MySQL's (`uuid:1-23`) forms:
//! parsing, printing and merging, with no server involved (job files are checked
//! with them).

/// A MariaDB GTID position: the last `domain-server-seq` of each replication domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MariaGtids(std::collections::BTreeMap<u32, (u32, u64)>);

impl MariaGtids {
    pub fn parse(s: &str) -> Result<MariaGtids, String> {
        let mut map = std::collections::BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let nums: Vec<&str> = part.split('-').collect();
            let [d, srv, seq] = nums.as_slice() else {
                return Err(format!("\"{part}\" is not domain-server-sequence"));
            };
            let bad = |_| format!("\"{part}\" is not domain-server-sequence");
            map.insert(
                d.parse().map_err(bad)?,
                (srv.parse().map_err(bad)?, seq.parse().map_err(bad)?),
            );
        }
        Ok(MariaGtids(map))
    }

    pub fn set(&mut self, domain: u32, server: u32, seq: u64) {
        self.0.insert(domain, (server, seq));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Domains where this position is behind `oldest` (the start of the oldest
    /// binlog kept): what follows them has been purged.
    pub fn older_than(&self, oldest: &MariaGtids) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|(d, (s, q))| {
                let (_, oq) = oldest.0.get(d)?;
                (q < oq).then(|| format!("{d}-{s}-{q}"))
            })
            .collect()
    }
}

impl std::fmt::Display for MariaGtids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(d, (s, q))| format!("{d}-{s}-{q}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// A MySQL GTID set: `uuid:1-5:7,uuid2:1-3`, intervals kept merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlGtids(std::collections::BTreeMap<String, Vec<(u64, u64)>>);

impl MysqlGtids {
    pub fn parse(s: &str) -> Result<MysqlGtids, String> {
        let mut set = MysqlGtids::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut fields = part.split(':');
            let uuid = fields.next().unwrap_or_default().to_ascii_lowercase();
            if uuid.len() != 36 {
                return Err(format!("\"{part}\" does not start with a server uuid"));
            }
            for iv in fields {
                let bad = |_| format!("\"{iv}\" in \"{part}\" is not an interval");
                let (a, b): (u64, u64) = match iv.split_once('-') {
                    Some((a, b)) => (a.parse().map_err(bad)?, b.parse().map_err(bad)?),
                    None => {
                        let n: u64 = iv.parse().map_err(bad)?;
                        (n, n)
                    }
                };
                if a == 0 || b < a {
                    return Err(format!("\"{iv}\" in \"{part}\" is not an interval"));
                }
                set.add_interval(&uuid, a, b);
            }
        }
        Ok(set)
    }

    fn add_interval(&mut self, uuid: &str, a: u64, b: u64) {
        let list = self.0.entry(uuid.to_string()).or_default();
        list.push((a, b));
        list.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(list.len());
        for &(s, e) in list.iter() {
            match merged.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *list = merged;
    }

    pub fn add(&mut self, uuid: &str, gno: u64) {
        self.add_interval(uuid, gno, gno);
    }

    /// Each server uuid with its executed intervals (inclusive).
    pub fn intervals(&self) -> impl Iterator<Item = (&String, &Vec<(u64, u64)>)> {
        self.0.iter()
    }
}

impl std::fmt::Display for MysqlGtids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(uuid, ivs)| {
                let ivs: Vec<String> = ivs
                    .iter()
                    .map(|(a, b)| {
                        if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        }
                    })
                    .collect();
                format!("{uuid}:{}", ivs.join(":"))
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}
