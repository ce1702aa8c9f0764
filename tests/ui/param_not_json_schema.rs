use rpc::rpc;

#[derive(serde::Deserialize, serde::Serialize)]
struct Note {
    text: String,
}

#[rpc]
trait Notes {
    async fn add(&self, note: Note) -> u64;
}

fn main() {}
