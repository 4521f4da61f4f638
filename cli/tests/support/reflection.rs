//! Asks a server which services it has, over gRPC reflection in both protocol versions.

use tonic::transport::Channel;
use tonic_reflection::pb::{v1, v1alpha};

/// The services `endpoint` lists over reflection v1 and over v1alpha, each sorted.
pub async fn services(endpoint: &str) -> (Vec<String>, Vec<String>) {
    let channel = Channel::from_shared(endpoint.to_string()).expect("uri").connect().await.expect("connect");
    (listed_v1(channel.clone()).await, listed_v1alpha(channel).await)
}

async fn listed_v1(channel: Channel) -> Vec<String> {
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel);
    let ask = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers =
        client.server_reflection_info(tokio_stream::iter([ask])).await.expect("v1").into_inner();
    let mut names = Vec::new();
    while let Some(answer) = answers.message().await.expect("v1 answer") {
        if let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response {
            names.extend(list.service.into_iter().map(|s| s.name));
        }
    }
    names.sort();
    names
}

async fn listed_v1alpha(channel: Channel) -> Vec<String> {
    use v1alpha::server_reflection_request::MessageRequest;
    use v1alpha::server_reflection_response::MessageResponse;
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let ask = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers =
        client.server_reflection_info(tokio_stream::iter([ask])).await.expect("v1alpha").into_inner();
    let mut names = Vec::new();
    while let Some(answer) = answers.message().await.expect("v1alpha answer") {
        if let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response {
            names.extend(list.service.into_iter().map(|s| s.name));
        }
    }
    names.sort();
    names
}

/// Panics unless `endpoint` lists exactly `service`, gRPC health and both reflection versions,
/// over each reflection version.
pub async fn assert_lists(endpoint: &str, service: &str) {
    let (new, old) = services(endpoint).await;
    let mut expected = vec![
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        service,
    ];
    expected.sort();
    assert_eq!(new, expected, "reflection v1 lists what the server serves");
    assert_eq!(old, expected, "reflection v1alpha lists what the server serves");
}
