//! On-chain apps and datasets the pool confines, and the placement of deals.

use super::*;

impl Store {
    pub(crate) async fn upsert_chain_resource(
        &self,
        address: Address,
        kind: ChainKind,
        meta: &Meta,
        confinement: Confinement,
    ) -> Result<(), PoolError> {
        sqlx::query(
            "INSERT INTO pool_chain_resources (address, kind, owner, grp, mode, visibility) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (address) DO UPDATE SET kind = $2, \
             owner = $3, grp = $4, mode = $5, visibility = $6",
        )
        .bind(address.to_string())
        .bind(kind.as_str())
        .bind(meta.owner.clone())
        .bind(meta.group.clone())
        .bind(i64::from(meta.mode.bits()))
        .bind(confinement.as_str())
        .execute(&self.pool)
        .await?;
        self.placement_changed(Listed::Resource(address));
        Ok(())
    }

    /// Forgets how an on-chain resource is confined (it is public again); false when unknown.
    pub(crate) async fn delete_chain_resource(&self, address: Address) -> Result<bool, PoolError> {
        let deleted = sqlx::query("DELETE FROM pool_chain_resources WHERE address = $1")
            .bind(address.to_string())
            .execute(&self.pool)
            .await?;
        self.placement_changed(Listed::Resource(address));
        Ok(deleted.rows_affected() > 0)
    }

    pub(crate) async fn chain_resources(&self) -> Result<Vec<ObjectRow>, PoolError> {
        let query = sqlx::query(
            "SELECT address AS id, address AS name, kind, owner, grp, mode, visibility, \
             '' AS checksum, CAST(0 AS BIGINT) AS size FROM pool_chain_resources ORDER BY address",
        );
        rows(query, |r| read_object(r, None)).all(&self.pool).await
    }

    /// Everything placement needs for deals: the listed workers' and on-chain resources'
    /// visibilities (anything else is public). Read whole once, then kept: a change since
    /// costs a read of the rows it changed.
    pub(crate) async fn placement(&self) -> Result<std::sync::Arc<DealPlacement>, PoolError> {
        let (generation, read, stale) = match self.placement.read() {
            Ok(cached) => match &cached.read {
                Some(read) if cached.stale.is_empty() => return Ok(read.clone()),
                Some(read) => (cached.generation, Some(read.clone()), cached.stale.clone()),
                _ => (cached.generation, None, Vec::new()),
            },
            Err(_) => (0, None, Vec::new()),
        };
        let placement = match read {
            Some(read) => {
                let mut patched = DealPlacement::clone(&read);
                for listed in stale {
                    let (map, address) = match listed {
                        Listed::Worker(address) => (&mut patched.workers, address),
                        Listed::Resource(address) => (&mut patched.resources, address),
                    };
                    match self.listed_visibility(listed).await? {
                        Some(visibility) => map.insert(address, visibility),
                        None => map.remove(&address),
                    };
                }
                patched
            }
            None => {
                let visibilities = |rows: Vec<ObjectRow>| {
                    rows.into_iter()
                        .filter_map(|r| Some((r.info.id.parse::<Address>().ok()?, r.visibility())))
                        .collect()
                };
                DealPlacement {
                    workers: visibilities(self.workers().await?),
                    resources: visibilities(self.chain_resources().await?),
                }
            }
        };
        let placement = std::sync::Arc::new(placement);
        // Kept only when nothing changed while it was read (else the next call reads again).
        if let Ok(mut cached) = self.placement.write()
            && cached.generation == generation
        {
            cached.read = Some(placement.clone());
            cached.stale.clear();
        }
        Ok(placement)
    }

    /// Drops the placement's copy: the next use reads it whole.
    pub(super) fn placement_forgotten(&self) {
        if let Ok(mut cached) = self.placement.write() {
            cached.generation = cached.generation.wrapping_add(1);
            cached.read = None;
            cached.stale.clear();
        }
    }

    /// The visibility of a listed worker or on-chain resource (`None`: not listed).
    pub(super) async fn listed_visibility(
        &self,
        listed: Listed,
    ) -> Result<Option<Visibility>, PoolError> {
        let (query, kind) = match listed {
            Listed::Worker(address) => (
                sqlx::query(
                    "SELECT address AS id, address AS name, owner, grp, mode, visibility, \
                     '' AS checksum, CAST(0 AS BIGINT) AS size FROM pool_workers WHERE address = $1",
                )
                .bind(address.to_string()),
                Some("worker"),
            ),
            Listed::Resource(address) => (
                sqlx::query(
                    "SELECT address AS id, address AS name, kind, owner, grp, mode, visibility, \
                     '' AS checksum, CAST(0 AS BIGINT) AS size FROM pool_chain_resources \
                     WHERE address = $1",
                )
                .bind(address.to_string()),
                None,
            ),
        };
        let row = rows(query, |r| read_object(r, kind))
            .optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.visibility()))
    }
}
