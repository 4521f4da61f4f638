//! Streams a chat answer from a Wick router (or a worker: they serve the same service) and
//! checks the receipt's worker signature and router countersignature.
//!
//! ```text
//! cargo run -p wick-example-client -- http://127.0.0.1:7000 "What is the capital of France?"
//! ```

use std::io::Write;

use wick_proto::signing::verify_countersigned;
use wick_proto::v1::inference_client::InferenceClient;
use wick_proto::v1::{ChatMessage, GenerateRequest, SamplingParams, generate_response};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "http://127.0.0.1:7000".into());
    let prompt = args.next().unwrap_or_else(|| "What is the capital of France?".into());
    let mut client = InferenceClient::connect(endpoint).await?;
    let request = GenerateRequest {
        model: "smollm2-135m-instruct".into(),
        messages: vec![ChatMessage { role: "user".into(), content: prompt }],
        params: Some(SamplingParams { temperature: 0.0, max_tokens: Some(64), ..Default::default() }),
        ..Default::default()
    };
    let mut stream = client.generate(request).await?.into_inner();
    while let Some(message) = stream.message().await? {
        match message.event {
            Some(generate_response::Event::Delta(d)) => {
                print!("{}", d.text);
                std::io::stdout().flush()?;
            }
            Some(generate_response::Event::Done(done)) => {
                println!();
                let receipt = done.receipt.ok_or("no receipt")?;
                match verify_countersigned(&receipt) {
                    Ok(()) => eprintln!("receipt verified: worker signature and router countersignature"),
                    Err(e) => eprintln!("receipt did not verify: {e}"),
                }
            }
            None => {}
        }
    }
    Ok(())
}
