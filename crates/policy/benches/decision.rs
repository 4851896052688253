//! Criterion: one in-process admission decision for the restricted initiative (8 constraints)
//! on a typical Deployment pod. Run: `cargo bench -p keelwatch-policy --bench decision`.

use criterion::{Criterion, criterion_group, criterion_main};
use keelwatch_policy::{EnforcementPoint, Inventory};

#[path = "support/mod.rs"]
mod common;

fn decision(c: &mut Criterion) {
    let set = common::restricted_set();
    let inventory = Inventory::empty();
    let request = common::create_request(1);
    assert!(set.review(&request, &inventory, EnforcementPoint::Validation).unwrap().is_empty());
    c.bench_function("restricted_decision_typical_pod", |b| {
        b.iter(|| set.review(std::hint::black_box(&request), &inventory, EnforcementPoint::Validation).unwrap())
    });
}

criterion_group!(benches, decision);
criterion_main!(benches);
