-- nn.data: the data sets (MNIST, Fashion-MNIST) as dataset objects.
--
--   local d = nn.data.mnist{}          -- {train = ds, test = ds, classes = {"0", ..., "9"}}
--   local small = d.train:subset(1000, 7)
--   local fit, val = d.train:split(0.9, 1)
--
-- A dataset holds ds.images (N, 28, 28) uint8, ds.labels (N,) int32, ds.n, ds.name, ds.classes
-- and ds.num_classes. Methods never change a dataset; they return new ones. Row work is done by
-- nn._data in C. Files come from data_dir() (NN_DATA, else data/ in the source tree; setup.sh
-- fetches them there).
local C = require "nn._data"
local T = require "nn._tensor"
local util = require "nn.util"

local data = {}

local DIGITS = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
local FASHION = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
  "Sneaker", "Bag", "Ankle boot"}

local Dataset = {}
Dataset.__index = Dataset

function Dataset:__tostring()
  return string.format("nn.data '%s' (%d images, %d classes)", self.name, self.n, self.num_classes)
end

-- images (N, ...) any dtype; labels (N,) uint8 or int32; classes: the label names, label 0 first.
function data.dataset(name, images, labels, classes)
  if type(name) ~= "string" then util.fail("dataset: the name must be a string, got %s", type(name)) end
  if not T.is(images) or images:dim() < 1 then
    util.fail("dataset '%s': images must be a tensor with one row per image, got %s", name, tostring(images))
  end
  if not T.is(labels) or labels:dim() ~= 1 then
    util.fail("dataset '%s': labels must be a 1-d tensor, got %s", name, tostring(labels))
  end
  if type(classes) ~= "table" then util.fail("dataset '%s': classes must be a list of names, got %s", name, type(classes)) end
  if labels:dtype() ~= "int32" then labels = labels:astype("int32") end
  local n = #images
  if #labels ~= n then util.fail("dataset '%s': %d images but %d labels", name, n, #labels) end
  return setmetatable({name = name, images = images, labels = labels, n = n, classes = classes,
    num_classes = #classes}, Dataset)
end

-- The rows index[first], ..., index[first + count - 1] (index (K,) int32; first defaults to 0,
-- count to the rest of index) as a new dataset called name.
function Dataset:select(name, index, first, count)
  return data.dataset(name, C.gather_rows(self.images, index, first, count),
    C.gather_rows(self.labels, index, first, count), self.classes)
end

-- Keeps the images whose label is one of those given: ds:filter{3, 5}. Labels keep their values.
function Dataset:filter(labels)
  for i, v in ipairs(type(labels) == "table" and labels or {}) do
    if math.type(v) ~= "integer" then util.fail("filter: label %d is %s, not a whole number", i, tostring(v)) end
  end
  if type(labels) ~= "table" or #labels == 0 then util.fail("filter: expected a list of labels like {3, 5}") end
  local name = string.format("%s labels {%s}", self.name, table.concat(labels, ","))
  return self:select(name, C.rows_with_labels(self.labels, labels))
end

-- n images drawn at random without replacement; the same seed gives the same images.
function Dataset:subset(n, seed)
  if math.type(n) ~= "integer" or n < 0 or n > self.n then
    util.fail("subset of %s asked from '%s' which has %d images", tostring(n), self.name, self.n)
  end
  if math.type(seed) ~= "integer" then util.fail("subset: the seed must be a whole number, got %s", tostring(seed)) end
  local name = string.format("%s subset %d", self.name, n)
  return self:select(name, C.permutation(self.n, seed), 0, n)
end

-- Two disjoint random parts: a holds fraction of the images (rounded), b the rest.
function Dataset:split(fraction, seed)
  if type(fraction) ~= "number" or not (fraction > 0 and fraction < 1) then
    util.fail("split of '%s': fraction %s is not between 0 and 1", self.name, tostring(fraction))
  end
  if math.type(seed) ~= "integer" then util.fail("split: the seed must be a whole number, got %s", tostring(seed)) end
  local order = C.permutation(self.n, seed)
  local k = math.floor(self.n * fraction + 0.5)
  return self:select(self.name .. " split a", order, 0, k),
    self:select(self.name .. " split b", order, k)
end

-- Relabels: mapping[old] = new for every label present, e.g. Fashion-MNIST items to groups.
-- classes names the new labels (new label 0 first); by default they are "0", "1", ...
function Dataset:map_labels(mapping, classes)
  if type(mapping) ~= "table" then util.fail("map_labels: expected a table {[old] = new, ...}, got %s", type(mapping)) end
  local labels = C.map_labels(self.labels, mapping)
  if not classes then
    local top = -1
    for _, new in pairs(mapping) do top = math.max(top, new) end
    classes = {}
    for label = 0, top do classes[#classes + 1] = tostring(label) end
  end
  return data.dataset(self.name .. " relabelled", self.images, labels, classes)
end

-- {[label] = count} over the labels present.
function Dataset:counts() return C.label_counts(self.labels) end

-- The train and test halves of an MNIST-format data set in data_dir()/<folder> (opts.dir
-- overrides it). data.mnist and data.fashion_mnist tail-call this, so error level 2 is the script.
local function idx_pair(folder, name, suffix, classes, opts)
  local dir = opts.dir or (C.data_dir() .. "/" .. folder)
  local sets = {classes = classes}
  for _, part in ipairs{{set = "train", prefix = "train"}, {set = "test", prefix = "t10k"}} do
    local set, prefix = part.set, part.prefix
    local images_file = string.format("%s/%s-images-idx3-ubyte%s", dir, prefix, suffix)
    local labels_file = string.format("%s/%s-labels-idx1-ubyte%s", dir, prefix, suffix)
    local images, labels = C.read_idx(images_file), C.read_idx(labels_file)
    if #images ~= #labels then
      error(string.format("%s has %d images but %s has %d labels", images_file, #images,
        labels_file, #labels), 2)
    end
    sets[set] = data.dataset(name .. " " .. set, images, labels, classes)
  end
  return sets
end

function data.mnist(opts) return idx_pair("mnist", "mnist", "", DIGITS, opts or {}) end

function data.fashion_mnist(opts)
  return idx_pair("fashion-mnist", "fashion-mnist", ".gz", FASHION, opts or {})
end

data.data_dir = C.data_dir

return data
