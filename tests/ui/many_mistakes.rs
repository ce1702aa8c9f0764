use rpc::rpc;

#[rpc(namespace = "ma th", prefix = "x")]
trait Service {
    fn ping(&self) -> i64;

    async fn bump(&mut self);

    #[rpc(name = "ping")]
    async fn pong(&self, name: &str) -> String;

    #[rpc(notification)]
    async fn log(&self, title: Option<String>, line: String) -> bool;
}

fn main() {}
