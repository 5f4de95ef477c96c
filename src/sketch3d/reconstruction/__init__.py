"""Chapter 4.3: 3D reconstruction from a sketch by inverting a pre-trained SDF-StyleGAN (Zheng et al. 2022),
under SDF supervision or a CLIP (RN101 layer-3) loss between the sketch and a differentiable SDF rendering."""
