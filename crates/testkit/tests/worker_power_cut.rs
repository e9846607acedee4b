//! What a worker's saved jobs promise across a power cut (`decloud_testkit::power_cut`): a job
//! saved in its computed state (what its contribution needs), made durable with others by one
//! sync of the directory, is whole on the disk the cut
//! leaves; a plain replicate only claimed is held in memory, and the scheduler hands it back
//! after a restart (`returning_worker.rs` checks that it is then completed).

use alloy::primitives::{Address, B256, Bytes};
use decloud_protocol::pool::{Assignment, Authorization};
use decloud_testkit::power_cut::Disk;
use decloud_worker::state::{Computed, Job, JobStore, Stage};

fn assignment(byte: u8) -> Assignment {
    Assignment {
        task_id: B256::repeat_byte(byte),
        deal_id: B256::repeat_byte(0xde),
        index: 0,
        deal: Bytes::new(),
        trust: 1,
        category: 0,
        work_clock_time_ref: 300,
        start_time: 1,
        callback: Address::ZERO,
        params: String::new(),
        app: None,
        dataset: None,
        authorization: Authorization {
            worker: Address::ZERO,
            task_id: B256::repeat_byte(byte),
            enclave: Address::ZERO,
            sign: Bytes::new(),
        },
        drawn: None,
        audit: None,
    }
}

#[test]
fn computed_jobs_survive_a_power_cut_and_a_claimed_one_is_only_held() {
    let Some(disk) = Disk::create_or_skip().unwrap() else {
        return;
    };
    let store = JobStore::open(disk.path()).unwrap();
    let claimed = Job {
        assignment: assignment(1),
        stage: Stage::Claimed,
    };
    store.hold(&claimed).unwrap();
    assert!(store.contains(claimed.assignment.task_id), "held");
    // Saved from many threads at once, as jobs that finish together are, then made durable
    // together (by one sync of the directory, as the batcher does before sending their batch).
    let computed: Vec<Job> = (2..18u8)
        .map(|byte| Job {
            assignment: assignment(byte),
            stage: Stage::Computed(Computed {
                digest: B256::repeat_byte(9),
                result_file: format!("results/{byte}.tar"),
                callback_data: None,
                failure: None,
                stages: Default::default(),
                location: Some(format!("https://storage.example/blobs/{byte}")),
            }),
        })
        .collect();
    std::thread::scope(|scope| {
        for job in &computed {
            let store = &store;
            scope.spawn(move || store.save_pending(job).unwrap());
        }
    });
    store.sync().unwrap();

    let cut = disk.after_power_cut().unwrap();
    let after = JobStore::open(cut.path()).unwrap().load_all().unwrap();
    assert_eq!(
        after, computed,
        "every computed job is whole; the claimed one was never written"
    );
    store.remove(claimed.assignment.task_id).unwrap();
    assert!(!store.contains(claimed.assignment.task_id));
}
