//! Jobs: the pool's own desktop-grid work and the mirror of on-chain deals' tasks.

use super::*;

impl Store {
    pub(crate) async fn insert_job(
        &self,
        id: &str,
        meta: &Meta,
        app: &str,
        datum: Option<&str>,
        args: &str,
        now: u64,
    ) -> Result<(), PoolError> {
        sqlx::query(
            "INSERT INTO pool_jobs (id, owner, grp, mode, app_id, datum_id, args, status, worker, \
             result, result_checksum, reason, created_at, updated_at, origin) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', NULL, NULL, NULL, NULL, $8, $8, 'client')",
        )
        .bind(id.to_owned())
        .bind(meta.owner.clone())
        .bind(meta.group.clone())
        .bind(i64::from(meta.mode.bits()))
        .bind(app.to_owned())
        .bind(datum.map(str::to_owned))
        .bind(args.to_owned())
        .bind(bigint(now, "time")?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Shows each of `tasks` (task id, requester, status) as a job of its deal's requester, in
    /// one transaction: the mirror of a follower pass costs one commit, not one per task. A row
    /// whose status did not change is not rewritten.
    pub(crate) async fn upsert_deal_jobs(
        &self,
        tasks: &[(String, String, String)],
        now: u64,
    ) -> Result<(), PoolError> {
        if tasks.is_empty() {
            return Ok(());
        }
        // A task's last status wins; one row per task, since a statement may not update a row
        // twice (Postgres refuses it).
        let mut last: Vec<&(String, String, String)> = Vec::with_capacity(tasks.len());
        let mut seen = std::collections::HashMap::new();
        for task in tasks {
            match seen.get(&task.0) {
                Some(&at) => last[at] = task,
                None => {
                    seen.insert(task.0.clone(), last.len());
                    last.push(task);
                }
            }
        }
        let mut tx = self.pool.begin().await?;
        // Many rows per statement: this runs for every block range the scheduler follows.
        for group in last.chunks(DEAL_JOBS_PER_STATEMENT) {
            let rows: Vec<String> = (0..group.len())
                .map(|i| {
                    let at = 3 + 3 * i;
                    format!(
                        "(${at}, ${}, NULL, $1, '', NULL, '', ${}, NULL, NULL, NULL, NULL, $2, $2, 'deal')",
                        at + 1,
                        at + 2
                    )
                })
                .collect();
            // Only placeholders are spliced in; every value is bound.
            let sql = format!(
                "INSERT INTO pool_jobs (id, owner, grp, mode, app_id, datum_id, args, status, worker, \
                 result, result_checksum, reason, created_at, updated_at, origin) VALUES {} \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at \
                 WHERE pool_jobs.status <> excluded.status",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(i64::from(Mode::PRIVATE.bits()))
                .bind(bigint(now, "time")?);
            for (task_id, requester, status) in group {
                query = query
                    .bind(task_id.clone())
                    .bind(requester.clone())
                    .bind(status.clone());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn job(&self, id: &str) -> Result<Option<JobRow>, PoolError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM pool_jobs WHERE id = $1");
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()),
            read_job,
        )
        .optional(&self.pool)
        .await
    }

    pub(crate) async fn jobs(&self) -> Result<Vec<JobRow>, PoolError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM pool_jobs ORDER BY created_at, id");
        rows(sqlx::query(sqlx::AssertSqlSafe(sql)), read_job)
            .all(&self.pool)
            .await
    }

    pub(crate) async fn job_result(&self, id: &str) -> Result<Option<Vec<u8>>, PoolError> {
        let query = sqlx::query("SELECT result FROM pool_jobs WHERE id = $1").bind(id.to_owned());
        let result: Option<Option<String>> =
            rows(query, |r| Ok::<_, PoolError>(parse_opt(r, "result")?))
                .optional(&self.pool)
                .await?;
        result
            .flatten()
            .map(|text| {
                B64.decode(text)
                    .map_err(|_| PoolError::Corrupt(format!("pool_jobs.result of {id}")))
            })
            .transpose()
    }

    /// See [`crate::Pool::take_job`].
    pub(crate) async fn take_job(
        &self,
        worker: Address,
        now: u64,
    ) -> Result<Option<WorkOrder>, PoolError> {
        let machine = self.worker(worker).await?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM pool_jobs WHERE status = 'pending' AND origin = 'client' \
             ORDER BY created_at, id LIMIT 200"
        );
        let pending = rows(sqlx::query(sqlx::AssertSqlSafe(sql)), read_job)
            .all(&self.pool)
            .await?;
        for job in pending {
            let Some(app) = self.object(Kind::App, &job.info.app).await? else {
                continue;
            };
            let datum = match &job.info.datum {
                Some(id) => match self.object(Kind::Data, id).await? {
                    Some(d) => Some(d),
                    None => continue,
                },
                None => None,
            };
            let placement = Placement::of(
                &Job {
                    app: app.visibility(),
                    data: datum.iter().map(ObjectRow::datum).collect(),
                },
                &machine,
            );
            if placement != Placement::Allowed {
                continue;
            }
            let taken = sqlx::query(
                "UPDATE pool_jobs SET status = 'running', worker = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'pending'",
            )
            .bind(worker.to_string())
            .bind(bigint(now, "time")?)
            .bind(job.info.id.clone())
            .execute(&self.pool)
            .await?;
            if taken.rows_affected() == 1 {
                return Ok(Some(WorkOrder {
                    job: job.info.id,
                    app_checksum: app.info.checksum,
                    datum: datum.map(|d| (d.info.name, d.info.checksum)),
                    args: job.info.args,
                    clock_secs: job.created_at,
                }));
            }
        }
        Ok(None)
    }

    /// Puts the running jobs of `workers` back in the queue, in one transaction; how many each
    /// held, in the order given. A login storm releases thousands of workers at once and they
    /// almost never hold a job: the jobs held are read first (a few hundred workers per
    /// statement), and only those are written.
    pub(crate) async fn release_jobs(
        &self,
        workers: &[Address],
        now: u64,
    ) -> Result<Vec<u64>, PoolError> {
        use sqlx::Row;
        let keys: Vec<String> = workers.iter().map(ToString::to_string).collect();
        let mut tx = self.pool.begin().await?;
        let mut holder: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        for group in keys.chunks(decloud_sql::IN_LIST_MAX) {
            // Only placeholders are spliced in; every value is bound.
            let sql = format!(
                "SELECT id, worker FROM pool_jobs \
                 WHERE status = 'running' AND origin = 'client' AND worker IN ({})",
                decloud_sql::placeholders(1, group.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for key in group {
                query = query.bind(key.as_str());
            }
            for row in query.fetch_all(&mut *tx).await? {
                holder.insert(row.try_get("id")?, row.try_get("worker")?);
            }
        }
        let ids: Vec<&String> = holder.keys().collect();
        let mut released: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for group in ids.chunks(decloud_sql::IN_LIST_MAX) {
            // Still held by one of the workers read as holding them: a job finished and taken
            // by another worker since the read (Postgres reads each statement's own snapshot)
            // is that worker's, and stays running.
            let holders: std::collections::BTreeSet<&str> = group
                .iter()
                .filter_map(|id| holder.get(*id))
                .map(String::as_str)
                .collect();
            let sql = format!(
                "UPDATE pool_jobs SET status = 'pending', worker = NULL, updated_at = $1 \
                 WHERE status = 'running' AND id IN ({}) AND worker IN ({}) RETURNING id",
                decloud_sql::placeholders(2, group.len()),
                decloud_sql::placeholders(2 + group.len(), holders.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(bigint(now, "time")?);
            for id in group {
                query = query.bind(id.as_str());
            }
            for worker in holders {
                query = query.bind(worker);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let id: String = row.try_get("id")?;
                if let Some(worker) = holder.get(&id) {
                    *released.entry(worker.as_str()).or_default() += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(keys
            .iter()
            .map(|k| released.get(k.as_str()).copied().unwrap_or(0))
            .collect())
    }

    /// The job `id` as held by `worker`, or the refusal.
    async fn held(&self, worker: Address, id: &str) -> Result<JobRow, PoolError> {
        let job = self.job(id).await?;
        match job {
            Some(job)
                if job.info.status == "running"
                    && job.info.worker.as_deref() == Some(&worker.to_string()) =>
            {
                Ok(job)
            }
            _ => Err(PoolError::Forbidden(format!(
                "worker {worker} holds no running job {id}: a worker reads and answers only the jobs it was given"
            ))),
        }
    }

    pub(crate) async fn job_content(
        &self,
        worker: Address,
        id: &str,
        part: Part,
    ) -> Result<Vec<u8>, PoolError> {
        let job = self.held(worker, id).await?;
        match part {
            Part::App => self.content(Kind::App, &job.info.app).await,
            Part::Datum => {
                let datum = job
                    .info
                    .datum
                    .ok_or_else(|| PoolError::NotFound(format!("job {id} has no datum")))?;
                let row = self
                    .object(Kind::Data, &datum)
                    .await?
                    .ok_or_else(|| PoolError::NotFound(format!("no datum {datum}")))?;
                // Confinement again at the door: never a certificate, never private data to
                // another's machine.
                if !decloud_access::may_use_datum(&self.worker(worker).await?, &row.datum()) {
                    return Err(PoolError::Forbidden(format!(
                        "datum {datum} may not go to worker {worker}"
                    )));
                }
                self.content(Kind::Data, &datum).await
            }
        }
    }

    pub(crate) async fn finish_job(
        &self,
        worker: Address,
        id: &str,
        outcome: JobOutcome,
        now: u64,
    ) -> Result<(), PoolError> {
        self.held(worker, id).await?;
        let (status, result, checksum, reason) = match outcome {
            JobOutcome::Completed { result } => {
                let bytes = B64.decode(&result).map_err(|_| {
                    PoolError::BadRequest("the result is not base64: send the packed /out".into())
                })?;
                (
                    "completed",
                    Some(result),
                    Some(crate::sha256_hex(&bytes)),
                    None,
                )
            }
            JobOutcome::Failed { reason } => (
                "failed",
                None,
                None,
                Some(reason.chars().take(1000).collect::<String>()),
            ),
        };
        let updated = sqlx::query(
            "UPDATE pool_jobs SET status = $1, result = $2, result_checksum = $3, reason = $4, \
             updated_at = $5 WHERE id = $6 AND status = 'running' AND worker = $7",
        )
        .bind(status)
        .bind(result)
        .bind(checksum)
        .bind(reason)
        .bind(bigint(now, "time")?)
        .bind(id.to_owned())
        .bind(worker.to_string())
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(PoolError::Forbidden(format!(
                "worker {worker} holds no running job {id}"
            )));
        }
        Ok(())
    }
}
