use taskq::prelude::*;

struct Mailer;

impl Mailer {
    #[long_task]
    async fn send(&self, to: String) -> Result<(), TaskError> {
        let _ = to;
        Ok(())
    }
}

fn main() {}
