// torchvision's architectures as nn.Graph compositions, with torchvision's state-dict keys.
export { resnet18, resnet34, type ResNetOptions } from './resnet.js';
export { mobilenetV2, type MobileNetV2Options } from './mobilenet.js';
