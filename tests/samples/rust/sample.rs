use std::collections::HashMap;

pub const MAX_ENTRIES: usize = 64;

#[derive(Debug, Clone)]
pub struct Entry { key: String, hits: u32 }

pub enum Policy { Lru, Fifo }

pub trait Store {
    fn lookup(&mut self, key: &str) -> Option<&Entry>;
}

pub type Index = HashMap<String, usize>;

pub struct Cache { entries: Vec<Entry>, index: Index, policy: Policy }

impl Cache {
    pub fn new(policy: Policy) -> Self {
        Cache { entries: Vec::new(), index: HashMap::new(), policy }
    }

    pub fn insert(&mut self, key: &str) {
        if self.entries.len() >= MAX_ENTRIES {
            self.evict();
        }
        self.index.insert(key.to_string(), self.entries.len());
        self.entries.push(Entry { key: key.to_string(), hits: 0 });
    }

    fn evict(&mut self) {
        let victim = if let Policy::Lru = self.policy { least_used(&self.entries) } else { 0 };
        let removed = self.entries.remove(victim);
        self.index.remove(&removed.key);
    }
}

impl Store for Cache {
    fn lookup(&mut self, key: &str) -> Option<&Entry> {
        let i = *self.index.get(key)?;
        Some(&self.entries[i])
    }
}

fn least_used(entries: &[Entry]) -> usize {
    entries.iter().enumerate().min_by_key(|(_, e)| e.hits).map(|(i, _)| i).unwrap_or(0)
}

mod tests {
    pub fn smoke() -> bool {
        let mut c = super::Cache::new(super::Policy::Fifo);
        c.insert("a");
        c.entries.is_empty()
    }
}

macro_rules! square { ($x:expr) => { $x * $x }; }

fn sig_demo(a: u32 /* sigcomment */, b: u32) -> u32 { // sigcomment
    a + b
}
