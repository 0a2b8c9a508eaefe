//! A workflow by names and JSON ([`WorkflowSpec`]): what the REST route
//! takes, what the typed builder writes and what a schedule fires, and its
//! checks against the graph and the registry (`records` turns it into the
//! steps' records).

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bounds::check_queue_name;
use crate::error::Error;
use crate::registry::Registry;
use crate::task::{RunWhen, StepInput};

/// The most steps one workflow may have.
pub const MAX_STEPS: usize = 100_000;

/// One step of a [`WorkflowSpec`].
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The step's name, unique in its workflow; later steps name it in
    /// `after`.
    pub name: String,
    /// The registered task type the step runs.
    pub task: String,
    /// Its params, when its input is `params` (the default for a step
    /// without parents).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
    /// The steps it waits for, in input order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// What it receives: by default `params` without parents, `result`
    /// after one parent, `results` after several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<StepInput>,
    /// Whether it runs only after its parents succeeded (the default) or
    /// after they ended whatever the outcome.
    #[serde(default)]
    pub runs: RunWhen,
    /// Instead of the task type's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Instead of the task type's priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Instead of the task type's retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

impl StepSpec {
    /// A step running `task` with `params` and the task type's options.
    pub fn new(name: impl Into<String>, task: impl Into<String>, params: Value) -> StepSpec {
        StepSpec {
            name: name.into(),
            task: task.into(),
            params,
            after: Vec::new(),
            input: None,
            runs: RunWhen::Succeeded,
            queue: None,
            priority: None,
            max_retries: None,
        }
    }

    /// The input it gets: as given, else by its number of parents.
    pub fn effective_input(&self) -> StepInput {
        self.input.unwrap_or(match self.after.len() {
            0 => StepInput::Params,
            1 => StepInput::Result,
            _ => StepInput::Results,
        })
    }
}

/// A workflow by names and JSON: steps and the steps each waits for.
///
/// ```
/// use serde_json::json;
/// use taskq::workflow::WorkflowSpec;
///
/// let spec: WorkflowSpec = serde_json::from_value(json!({"steps": [
///     {"name": "a", "task": "import", "params": {"file": 1}},
///     {"name": "b", "task": "import", "params": {"file": 2}},
///     {"name": "sum", "task": "summarise", "after": ["a", "b"]}
/// ]})).unwrap();
/// assert_eq!(spec.steps[2].effective_input(), taskq::StepInput::Results);
/// ```
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    pub steps: Vec<StepSpec>,
}

/// Refuses a step of the spec.
pub(super) fn invalid(step: &str, message: impl Into<String>) -> Error {
    Error::InvalidWorkflow {
        step: step.to_owned(),
        message: message.into(),
    }
}

impl WorkflowSpec {
    /// Checks the spec whole, as a submission would, except the payload
    /// limits (the client's): the graph ([`WorkflowSpec::check_graph`]),
    /// each step's task type in `registry`, its params against the type
    /// when it takes its own, its queue name and retries. Refusals are
    /// [`Error::InvalidWorkflow`] naming the step. Gives the steps in an
    /// order where parents come first.
    pub fn check_with(&self, registry: &Registry) -> Result<Vec<usize>, Error> {
        let order = self.check_graph()?;
        for spec in &self.steps {
            let name = spec.name.as_str();
            let def = registry
                .get(&spec.task)
                .ok_or_else(|| invalid(name, format!("unknown task type `{}`", spec.task)))?;
            if spec.effective_input() == StepInput::Params {
                (def.validate)(&spec.params).map_err(|e| {
                    invalid(
                        name,
                        format!(
                            "invalid params for `{}` at `{}`: {}",
                            def.name, e.path, e.message
                        ),
                    )
                })?;
            }
            if let Some(queue) = &spec.queue {
                check_queue_name(queue).map_err(|e| invalid(name, e.to_string()))?;
            }
            if let Some(retries) = spec.max_retries
                && retries > crate::bounds::MAX_RETRIES
            {
                let max = crate::bounds::MAX_RETRIES;
                return Err(invalid(name, format!("max_retries must be at most {max}")));
            }
        }
        Ok(order)
    }

    /// Checks names, edges and inputs, and that the graph has no cycle
    /// (what needs no registry); gives the steps in an order where parents
    /// come first.
    pub fn check_graph(&self) -> Result<Vec<usize>, Error> {
        if self.steps.is_empty() {
            return Err(invalid("", "a workflow needs at least one step"));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(invalid(
                "",
                format!(
                    "{} steps, more than the {MAX_STEPS} allowed",
                    self.steps.len()
                ),
            ));
        }
        let mut index = HashMap::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            if step.name.is_empty() || step.name.len() > 200 {
                return Err(invalid(&step.name, "a step name is 1 to 200 bytes"));
            }
            if index.insert(step.name.as_str(), i).is_some() {
                return Err(invalid(&step.name, "two steps have this name"));
            }
        }
        for step in &self.steps {
            let name = step.name.as_str();
            for (n, parent) in step.after.iter().enumerate() {
                if !index.contains_key(parent.as_str()) {
                    return Err(invalid(name, format!("`after` names no step `{parent}`")));
                }
                if step.after[..n].contains(parent) {
                    return Err(invalid(name, format!("`after` names `{parent}` twice")));
                }
            }
            let input = step.effective_input();
            match input {
                StepInput::Params => {}
                _ if step.after.is_empty() => {
                    return Err(invalid(name, "a step without parents takes its own params"));
                }
                _ if !step.params.is_null() => {
                    return Err(invalid(
                        name,
                        "params are given, but the input comes from parents",
                    ));
                }
                StepInput::Result if step.after.len() != 1 => {
                    return Err(invalid(name, "input `result` takes exactly one parent"));
                }
                StepInput::Result | StepInput::Results if step.runs == RunWhen::Completed => {
                    return Err(invalid(
                        name,
                        "a step that runs whatever its parents' outcome takes input `ends` or \
                         `params`",
                    ));
                }
                _ => {}
            }
        }
        // Kahn's algorithm: what is left unordered sits on a cycle.
        let mut waiting: Vec<usize> = self.steps.iter().map(|s| s.after.len()).collect();
        let mut children = vec![Vec::new(); self.steps.len()];
        for (i, step) in self.steps.iter().enumerate() {
            for parent in &step.after {
                children[index[parent.as_str()]].push(i);
            }
        }
        let mut order: Vec<usize> = (0..self.steps.len()).filter(|i| waiting[*i] == 0).collect();
        let mut next = 0;
        while next < order.len() {
            for &child in &children[order[next]] {
                waiting[child] -= 1;
                if waiting[child] == 0 {
                    order.push(child);
                }
            }
            next += 1;
        }
        if let Some(on_cycle) = (0..self.steps.len()).find(|i| waiting[*i] > 0) {
            return Err(invalid(
                &self.steps[on_cycle].name,
                "the steps' `after` make a cycle through this step",
            ));
        }
        Ok(order)
    }
}
