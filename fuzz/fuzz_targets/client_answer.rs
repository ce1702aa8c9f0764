//! The client's handling of answers: any bytes as the answer to a call
//! and to a batch. It must end in a result or a clear error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpc_core::{Answer, BoxFuture, Client, Error, Outgoing, ParamsBuilder, Transport};
use serde_json::Value;

/// A peer that answers every request with the fuzzer's bytes.
struct Replies(Vec<u8>);

impl Transport for Replies {
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>> {
        let answer = (!message.ids.is_empty()).then(|| Answer::from(self.0.clone()));
        Box::pin(async move { Ok(answer) })
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
}

fuzz_target!(|data: &[u8]| {
    // Ids start at 1: the first call is id 1, the batch's members 2 and 3.
    let client = Client::new(Replies(data.to_vec())).without_timeout();
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let _ = client.call::<Value>("m", ParamsBuilder::new(false)).await;
            let _ = client
                .call::<(String, i64)>("m", ParamsBuilder::new(false))
                .await;
            let _ = client
                .batch()
                .call::<Value>("a", ParamsBuilder::new(false))
                .call::<u64>("b", ParamsBuilder::new(false))
                .send()
                .await;
        })
    });
});
