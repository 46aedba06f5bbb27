//! The Istio gateway's service type: kept as the bundle has it, or chosen by the operator.

use super::inputs::GatewayInput;
use serde_json::json;

use crate::bundle::gateway::GatewayServiceType;
use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest, Level};
use crate::engine::units::Summary;
use crate::engine::work::StepError;

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let choice = match ctx.input::<GatewayInput>().gateway {
        Some(choice) => choice,
        None => {
            let options: Vec<String> = GatewayServiceType::ALL
                .iter()
                .map(|t| t.explanation().to_string())
                .collect();
            let answer = ctx
                .ask(InputRequest {
                    step: ctx.step(),
                    prompt: "How should the Kubeflow dashboard's gateway be exposed?".into(),
                    kind: InputKind::Choice(options),
                    answers_key: "gateway.service_type",
                })
                .await?;
            let Answer::Choice(i) = answer else {
                return Err(StepError::failed("expected a choice of service type"));
            };
            let choice = GatewayServiceType::ALL
                .get(i)
                .copied()
                .ok_or_else(|| StepError::failed("no such service type"))?;
            ctx.change_choice(crate::wizard::ChoiceChange::Gateway(choice))?;
            choice
        }
    };
    ctx.log(
        Level::Info,
        format!("gateway service type: {}", choice.explanation()),
    );
    ctx.record(
        &Summary::Gateway,
        &json!({ "service_type": choice.as_str() }),
    )
}
