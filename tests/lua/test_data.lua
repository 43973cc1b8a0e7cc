-- nn.data and nn._data: the C helpers and dataset methods on small tensors made here, then the
-- real MNIST and Fashion-MNIST files (setup.sh fetches them before the tests run).
local check = require "check"
local data = require "nn.data"
local C = require "nn._data"
local T = require "nn._tensor"

local tmp = os.tmpname()

local function write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

-- An IDX file of the given element type (0x08 uint8, 0x0C int32), shape and values, as bytes.
local function idx_bytes(type, shape, values)
  local parts = {string.pack(">I2BB", 0, type, #shape)}
  for _, d in ipairs(shape) do parts[#parts + 1] = string.pack(">I4", d) end
  local element = type == 0x08 and "B" or ">i4"
  for _, v in ipairs(values) do parts[#parts + 1] = string.pack(element, v) end
  return table.concat(parts)
end

local function same(got, want, message)
  return check.eq(table.concat(got, ","), table.concat(want, ","), message)
end

local function i32(values) return T.from_table(values, "int32") end

-- IDX files
write_file(tmp, idx_bytes(0x0C, {2, 3}, {1, -2, 3, 4, 5, 2147483647}))
local t = C.read_idx(tmp)
check.ok(t:dtype() == "int32" and #t == 2 and t:size(2) == 3, "read_idx shape: " .. tostring(t))
same(t:flat(), {1, -2, 3, 4, 5, 2147483647}, "read_idx values")
C.write_idx(tmp, T.from_table({{1, 2}, {3, 255}}, "uint8"))
same(C.read_idx(tmp):flat(), {1, 2, 3, 255}, "write_idx then read_idx")
check.fails(function() C.read_idx(tmp .. ".missing") end, "no such file (run ./setup.sh")
write_file(tmp, idx_bytes(0x08, {4}, {1, 2, 3}))
check.fails(function() C.read_idx(tmp) end, "truncated at byte 11: header promises 4 bytes")
check.fails(function() C.write_idx(tmp, T.new({})) end, "1 to 4 dimensions")

-- Row helpers
t = T.from_table({{1, 2}, {3, 4}, {5, 6}, {7, 8}}, "uint8")
same(C.gather_rows(t, i32{3, 0}):flat(), {7, 8, 1, 2}, "gather_rows")
same(C.gather_rows(t, i32{3, 0, 2}, 1, 1):flat(), {1, 2}, "gather_rows range")
check.eq(#C.gather_rows(t, i32{3, 0, 2}, 3), 0, "gather_rows empty range")
check.fails(function() C.gather_rows(t, i32{1, 4}) end,
  "gather_rows: index[1] is 4, outside the tensor's rows 0..3")
check.fails(function() C.gather_rows(t, i32{1, 0}, 1, 2) end, "count runs past")
check.fails(function() C.gather_rows(t, t) end, "int32 vector expected, got uint8 (4, 2)")

local p = C.permutation(10, 3):flat()
local sorted = {table.unpack(p)}
table.sort(sorted)
same(sorted, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "permutation holds 0..n-1")
same(C.permutation(10, 3):flat(), p, "permutation: same seed, same order")
check.ok(table.concat(C.permutation(10, 4):flat(), ",") ~= table.concat(p, ","),
  "permutation: another seed, another order")

local y = i32{2, 0, 2, 1, 2, 0}
local counts = C.label_counts(y)
check.ok(counts[0] == 2 and counts[1] == 1 and counts[2] == 3 and counts[3] == nil, "label_counts")
same(C.rows_with_labels(y, {0, 1}):flat(), {1, 3, 5}, "rows_with_labels")
check.eq(#C.rows_with_labels(y, {7}), 0, "rows_with_labels, none")
same(C.map_labels(y, {[0] = 5, [1] = 5, [2] = 6}):flat(), {6, 5, 6, 5, 6, 5}, "map_labels")
check.fails(function() C.map_labels(y, {[0] = 5, [2] = 6}) end,
  "map_labels: label 1 (row 3) is not in the table")

-- Dataset methods on six images whose pixels say which row they are and what label it has.
local tiny = data.dataset("tiny",
  T.from_table({{0, 2}, {1, 0}, {2, 2}, {3, 1}, {4, 2}, {5, 0}}, "uint8"),
  T.from_table({2, 0, 2, 1, 2, 0}, "uint8"), {"a", "b", "c"})
check.eq(tiny.n, 6, "tiny.n")
check.eq(tiny.num_classes, 3, "tiny.num_classes")
check.eq(tiny.labels:dtype(), "int32", "labels become int32")
check.eq(tostring(tiny), "nn.data 'tiny' (6 images, 3 classes)", "tostring")

-- Every image of ds still sits beside its own label; returns the original row numbers.
local function rows_of(ds)
  local pixels, ys, rows = ds.images:flat(), ds.labels:flat(), {}
  for i = 1, ds.n do
    check.eq(pixels[2 * i], ys[i], ds.name .. ": image " .. i .. " has its label")
    rows[i] = pixels[2 * i - 1]
  end
  return rows
end

local f = tiny:filter{0, 1}
same(rows_of(f), {1, 3, 5}, "filter keeps rows in order")
check.eq(f.name, "tiny labels {0,1}", "filter name")

local s = tiny:subset(4, 11)
check.eq(s.n, 4, "subset size")
local picked = rows_of(s)
same(rows_of(tiny:subset(4, 11)), picked, "subset: same seed, same rows")
check.fails(function() tiny:subset(7, 1) end, "subset of 7 asked from 'tiny' which has 6 images")

local a, b = tiny:split(0.5, 2)
check.ok(a.n == 3 and b.n == 3, "split sizes")
local all = rows_of(a)
for _, r in ipairs(rows_of(b)) do all[#all + 1] = r end
table.sort(all)
same(all, {0, 1, 2, 3, 4, 5}, "split: disjoint, covering")
check.fails(function() tiny:split(1, 2) end, "fraction 1 is not between 0 and 1")

local m = tiny:map_labels({[0] = 1, [1] = 0, [2] = 1}, {"odd", "even"})
check.ok(m:counts()[0] == 1 and m:counts()[1] == 5, "map_labels counts")
check.eq(m.classes[2], "even", "map_labels classes")
check.eq(tiny:map_labels{[0] = 0, [1] = 3, [2] = 0}.num_classes, 4, "map_labels default classes")
check.fails(function() tiny:map_labels{[0] = 1, [1] = 0} end, "label 2 (row 0) is not in the table")
check.fails(function() data.dataset("bad", tiny.images, i32{0, 0, 0, 0, 0}, {}) end,
  "dataset 'bad': 6 images but 5 labels")

-- A data set whose label file is short of images: the error names both files.
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. dir))
for _, part in ipairs{"train", "t10k"} do
  write_file(dir .. "/" .. part .. "-images-idx3-ubyte", idx_bytes(0x08, {2, 1, 1}, {0, 0}))
  write_file(dir .. "/" .. part .. "-labels-idx1-ubyte", idx_bytes(0x08, {1}, {0}))
end
check.fails(function() data.mnist{dir = dir} end, string.format(
  "%s/train-images-idx3-ubyte has 2 images but %s/train-labels-idx1-ubyte has 1 labels", dir, dir))
os.execute("rm -r " .. dir)
os.remove(tmp)

-- The real data sets.
local function present(file)
  local f = io.open(data.data_dir() .. "/" .. file, "rb")
  if f then f:close() end
  if not f then
    io.stderr:write("no ", file, " in ", data.data_dir(), " (run ./setup.sh): skipped\n")
  end
  return f ~= nil
end

local function sum(t)
  local total = 0
  for _, v in pairs(t) do total = total + v end
  return total
end

if present("mnist/train-images-idx3-ubyte") then
  local mnist = data.mnist{}
  check.eq(mnist.train.n, 60000, "mnist train images")
  check.eq(mnist.test.n, 10000, "mnist test images")
  check.eq(tostring(mnist.train.images), "nn.Tensor uint8 (60000, 28, 28)", "mnist train images")
  check.eq(mnist.train.name, "mnist train", "mnist name")
  check.eq(mnist.train.num_classes, 10, "mnist classes")
  local train_counts = mnist.train:counts()
  check.eq(sum(train_counts), 60000, "mnist train counts add up")
  check.eq(sum(mnist.test:counts()), 10000, "mnist test counts add up")
  check.eq(train_counts[1], 6742, "mnist train ones")
  for label = 0, 9 do
    check.ok(train_counts[label] > 5000 and train_counts[label] < 7000, "mnist label " .. label ..
      " has " .. tostring(train_counts[label]) .. " images")
  end
  check.eq(mnist.train:filter{3, 5}.n, train_counts[3] + train_counts[5], "mnist filter")
  local fit, val = mnist.train:split(0.9, 1)
  check.ok(fit.n == 54000 and val.n == 6000, "mnist split")
  check.eq(mnist.train:subset(1000, 1).n, 1000, "mnist subset")
  check.fails(function() mnist.train:subset(70000, 1) end,
    "subset of 70000 asked from 'mnist train' which has 60000 images")
end

if present("fashion-mnist/train-images-idx3-ubyte.gz") then
  local fashion = data.fashion_mnist{}
  check.eq(fashion.train.n, 60000, "fashion train images")
  check.eq(fashion.test.n, 10000, "fashion test images")
  check.eq(fashion.classes[10], "Ankle boot", "fashion class names")
  local balanced = true
  for label = 0, 9 do
    balanced = balanced and fashion.train:counts()[label] == 6000 and
      fashion.test:counts()[label] == 1000
  end
  check.ok(balanced, "fashion: 6000 train and 1000 test images of each class")
  -- shoes {Sandal, Sneaker, Ankle boot}, gendered {Dress, Shirt, Bag}, unisex {the rest}
  local groups = fashion.train:map_labels({[5] = 0, [7] = 0, [9] = 0, [3] = 1, [6] = 1, [8] = 1,
    [0] = 2, [1] = 2, [2] = 2, [4] = 2}, {"shoes", "gendered", "unisex"})
  local group_counts = groups:counts()
  check.ok(group_counts[0] == 18000 and group_counts[1] == 18000 and group_counts[2] == 24000,
    "fashion groups")
  check.eq(groups.num_classes, 3, "fashion groups: classes")
end

check.done()
