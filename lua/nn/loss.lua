-- nn.loss: losses for model:fit. Each takes (prediction node, label or target node) and returns
-- a 1-element loss node, the mean over the batch. `classification` losses also get an accuracy
-- metric and int32 labels; the others get float targets shaped like the prediction.
local graph = require "nn.graph"
local util = require "nn.util"

local loss = {}

-- Cross-entropy of logits (batch, classes) against int labels (batch,), softmax included.
loss.cross_entropy = setmetatable({name = "cross_entropy", classification = true}, {
  __call = function(_, logits, labels)
    return graph.node_of(logits.graph, logits.graph.c:cross_entropy(logits.id, labels.id, nil, util.where()))
  end,
})

-- Mean squared error of predictions against targets of the same shape.
loss.mse = setmetatable({name = "mse", classification = false}, {
  __call = function(_, pred, target)
    return graph.node_of(pred.graph, pred.graph.c:mse(pred.id, target.id, nil, util.where()))
  end,
})

return loss
